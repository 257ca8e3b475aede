"""Memory features for long-context training, each an independent switch.

Every technique here is a function over an unchanged model or optimizer, so
the trainer can turn them on one at a time (see `switches.MemorySwitches`):

- `checkpointing`: full or selective activation checkpointing of decoder layers
- `offload`: saved activations copied to pinned host memory on a side stream
- `optim_in_backward`: one optimizer per parameter, stepped as its grad lands
- `linear_ce`: lm_head + cross-entropy without materialising [tokens, vocab]
- `chunked_mlp`: SwiGLU MLPs run over the sequence in checkpointed chunks
- `meta_init`: build on the meta device, materialise straight on the target
- `adafactor_triton`: the Adafactor step as Triton kernels (CUDA only)

Submodules import torch; this package file does not, so that importing
`fgtui.engine.memory.switches` for config validation stays cheap.
"""
