"""An OpenAI-compatible inference server for a trained model (`fgtui serve`)."""
