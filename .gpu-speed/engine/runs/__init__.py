"""Reading run directories: the log stream, metric series, run comparison."""
