"""The inference service: text to activations, masks from prompts, masked inference.

Pages talk to `service.InferenceService`; torch is imported only when a backend first computes.
"""
