"""`seqsetvae train` / `diagnose` / `compare` (placeholder)."""


def register(sub) -> None:
    pass
