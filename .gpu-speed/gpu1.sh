nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
python3 -c "import pyarrow, pandas, datasets; print('pyarrow', pyarrow.__version__, 'pandas', pandas.__version__, 'datasets', datasets.__version__)"
python3 -c "import torch; print(torch.__version__); from torch.nn.attention import varlen; print('varlen', [n for n in dir(varlen) if not n.startswith('_')])" 2>&1 | tail -2
echo "=== pytest packed gpu"; timeout 60 python3 -m pytest -p no:cacheprovider -q -m gpu tests/models/test_packed_attention.py tests/models/test_block_masks.py 2>&1 | grep -v "^\s*$" | tail -40
echo "=== 16K tutorial"; TORCH_LOGS=recompiles timeout 230 python3 bench/finetune_16k.py --steps 20 --timeout 190 --model-dir /tmp/m7b --set attn_implementation=auto --set optimizer=adafactor-triton --no-peer --keep-log $OUT/stdout16k.log
echo "=== diag tutorial static"; TORCH_LOGS=recompiles timeout 90 python3 bench/packed_shapes_bench.py --mode tutorial --layers 2
echo "=== 64K"; timeout 90 python3 bench/memory_bench.py --model fgtui --shapes llama2-7b --packed-doc-len 2048 --lo 65536 --hi 65536
echo "=== packed step"; timeout 150 python3 bench/packed_step_bench.py --variants tutorial,offload-prefetch,compile-blocks --layers 4 --steps 5 --timeout 50
echo "=== diag tutorial flex-dynamic"; TORCH_LOGS=recompiles timeout 60 python3 bench/packed_shapes_bench.py --mode tutorial --layers 2 --flex-dynamic
