"""The data: input files read and validated, split by date, cleaned; what the history rule lets a month see."""
