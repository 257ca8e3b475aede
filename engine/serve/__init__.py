"""An OpenAI-compatible inference server for a trained model (`fgtui serve`).

requests.py     request bodies read and checked, field by field
completions.py  requests -> engine sequences -> OpenAI answer objects (whole or streamed)
engine.py       the decode loop: continuous batching on one thread that owns the model
decoders.py     prefill and one-token steps per kind of model (batched; transformers' padded, or row by row)
batch_cache.py  keys/values of every sequence in the batch, one row each
sampling.py     per-row sampling settings applied in one batched step
http_server.py  HTTP/1.1 on asyncio: routes, auth, deadlines, limits
"""
