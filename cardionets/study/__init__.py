"""Reader studies: physicians against CardioNets, blinded and randomised (design, storage; analysis to come)."""
