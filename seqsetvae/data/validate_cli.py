"""`seqsetvae check-data` (placeholder until the validation library lands)."""


def register(sub) -> None:
    pass
