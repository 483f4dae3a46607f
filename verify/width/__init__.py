"""Width verification: trainings across widths, slope fits against the engine, verdicts, coordinate checks."""
