"""Input limits of the inference service, shared by pages (torch-free) and the model side."""

MAX_TOKENS = 512  # per text; longer input is refused with this limit named
MAX_PROMPTS = 32  # per prompt set
