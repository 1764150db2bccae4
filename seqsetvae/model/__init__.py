"""The SeqSetVAE model, its Set Transformer blocks and its loss terms."""

from .seqsetvae import LOSS_TERMS, ModelOutput, SeqSetVAE, build_model

__all__ = ["LOSS_TERMS", "ModelOutput", "SeqSetVAE", "build_model"]
