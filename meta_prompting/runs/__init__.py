"""Running a filled toolkit: each sample a fresh session, each answer kept whole."""

# Samples of one task: self-consistency studies use 5 to 40; 100 full sessions of up
# to 1 MiB of evidence each (25 million tokens, 300 more with --judges 3) is past any
# experiment a person runs by hand, and a typo of 100000000 must not try. Here, not in
# run.py, so that the flags can say it without loading the runs.
MAX_SAMPLES = 100
