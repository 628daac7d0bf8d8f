"""Learning modes: teach, explore, practice, exam prep; answer checking; mastery."""
