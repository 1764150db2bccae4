"""SeqSetVAE: set-VAE per timestamp, causal transformer over time, mortality head."""

__version__ = "0.1.0"
