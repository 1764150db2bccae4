import torch

# One intra-op thread: tiny test models run faster without OpenMP hand-offs, results do not depend
# on the machine's core count, and parallel test processes do not oversubscribe the CPU.
torch.set_num_threads(1)
