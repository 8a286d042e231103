"""Which attention kernel the model uses, chosen per device and precision (training and inference alike).

On CPU, `sdpa` dispatches to the flash-attention kernel, which is slow in bfloat16: in a B forward at batch 8 on
a 2-core AVX512-BF16 CPU (no AMX) it took 316 ms in bfloat16 against 278 ms in float32, while the matrix
multiplications ran 2.2x faster; its backward under bf16 autocast took 560 of 1321 ms of an S batch-8 training
step on a 2-core AMX machine. `eager` attention (plain bfloat16 matmuls) made the B forward 1.92x float32 at
batch 1 instead of 1.77x (`benchmarks/dtype.py`) and the B training step 1.91x float32 instead of 1.68x
(`benchmarks/training.py`). In float32, and on GPU, `sdpa` is the faster one.
"""

import torch

ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "eager")
_REDUCED_PRECISIONS = ("bf16", "fp16", torch.bfloat16, torch.float16)


def choose_attention_implementation(requested: str, device_type: str, precision) -> str:
    """"auto" -> "eager" for bfloat16 / float16 on CPU, else "sdpa"; "sdpa" or "eager" as requested.

    Args:
        requested: "auto", "sdpa" or "eager" (a training config's `model.attn_implementation`).
        device_type: the device's type ("cpu", "cuda", ...).
        precision: what the matrix multiplications run in: accelerate's mixed-precision setting ("no", "fp16",
            "bf16", or None) for training, the model's torch dtype for inference.
    """
    if requested not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {requested!r}.")
    if requested != "auto":
        return requested
    return "eager" if device_type == "cpu" and precision in _REDUCED_PRECISIONS else "sdpa"
