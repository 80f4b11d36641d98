"""Offline autointerp: a language model proposes a one-line explanation of each cluster from its
example windows, and three tests score it, each beside its baseline.

Evidence (kept to a few hundred tokens for a 135M-parameter model): the cluster's strongest
example windows and a few from its activation bands, `context` tokens either side of the example
token with the runs of tokens where the cluster fires marked `<<like this>>`; its top tokens by
activation mass; and, when the study has lenses, the tokens its write directions promote under
the logit lens.

The judge is the explaining model. Its yes/no judgment is P(Yes) from its next-token logits, the
softmax over "Yes", " Yes", "No" and " No" summed over the two Yes tokens; an API's answer text
counts 1 for yes, 0 for no and 0.5 for anything else.
- Detection: the judge reads `n` activating texts (spans around examples of the cluster that
  the explanation prompt did not show, spread over its activation bands) and `n` non-activating
  texts (of `CANDIDATES_PER_TEXT * n` random spans of the corpus, drawn with a seed per cluster,
  the `n` on which the cluster's activation mass is least: spans where it does not fire at all,
  unless it fires nearly everywhere; such clusters are listed as `weak_contrast`), each unmarked,
  with "Does the following text contain <explanation>?". The score is the AUROC of the
  judgments, activating against non-activating (rank-based, ties counting half): 1 = the
  explanation separates them perfectly, 0.5 = chance.
- Fuzzing: the activating texts twice, once with the tokens where the cluster fires marked and
  once with as many other tokens marked at random (all of the others, when fewer do not fire; a
  text where every token fires is left out); the judge is asked whether the marked tokens are
  what the explanation describes. The score is the AUROC, right marks against wrong ones.
- Intruder (no explanation): `INTRUDER_CHOICES - 1` example texts of the cluster and one
  non-activating text, in a random order; the judge names the odd one out by its number. The
  score is the mean probability it gives the right number (an API's answer: 1 if right), over
  `intruder_trials` trials; its baseline, chance, is 1 / INTRUDER_CHOICES.
The baseline of detection and fuzzing is the same test, for the same cluster and texts, of a
random other cluster's explanation (Paulo et al. 2024, arXiv 2410.13928): a judge that reads the
explanation does better than it; one that answers from the texts alone does not. By construction
it averages 0.5 over clusters. An explanation that the model left empty is stored as a note,
without scores.
"""
