import torch

# The tensors in these tests are small: torch's thread pool only adds contention on the 2-core CI machine.
torch.set_num_threads(1)
