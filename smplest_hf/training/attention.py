"""Which attention kernel a training run uses, chosen per device and precision.

On CPU, `sdpa` dispatches to the flash-attention kernel, whose backward under bf16 autocast is slow: it took 560 of
1321 ms of an S batch-8 step on a 2-core AMX machine, while `eager` attention (plain matmuls, bf16 GEMMs under
autocast) made the whole bf16 step faster than float32's. In float32, and on GPU, `sdpa` is the faster one.
"""

ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "eager")


def choose_attention_implementation(requested: str, device_type: str, mixed_precision: str | None) -> str:
    """"auto" -> "eager" for bf16 / fp16 mixed precision on CPU, else "sdpa"; "sdpa" or "eager" as requested.

    Args:
        requested: `model.attn_implementation` of the training config ("auto", "sdpa" or "eager").
        device_type: the training device's type ("cpu", "cuda", ...).
        mixed_precision: accelerate's setting ("no", "fp16", "bf16", or None for no).
    """
    if requested not in ATTENTION_IMPLEMENTATIONS:
        raise ValueError(f"attn_implementation must be one of {ATTENTION_IMPLEMENTATIONS}, got {requested!r}.")
    if requested != "auto":
        return requested
    return "eager" if device_type == "cpu" and mixed_precision in ("bf16", "fp16") else "sdpa"
