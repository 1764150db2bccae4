"""The SeqSetVAE model, its Set Transformer blocks and its loss terms."""

from .seqsetvae import ModelOutput, SeqSetVAE, build_model

__all__ = ["ModelOutput", "SeqSetVAE", "build_model"]
