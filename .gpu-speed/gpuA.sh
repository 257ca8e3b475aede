nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
python3 -c "import pyarrow, datasets; print('pyarrow', pyarrow.__version__, 'datasets', datasets.__version__)"
echo "=== 16K tutorial"; TORCH_LOGS=recompiles timeout 230 python3 bench/finetune_16k.py --steps 20 --timeout 190 --model-dir /tmp/m7b --set attn_implementation=auto --set optimizer=adafactor-triton --no-peer --keep-log $OUT/stdout16k.log
echo "=== pytest packed gpu"; timeout 45 python3 -m pytest -p no:cacheprovider -q -m gpu tests/models/test_packed_attention.py 2>&1 | grep -v "^\s*$" | tail -30
echo "=== 64K"; timeout 80 python3 bench/memory_bench.py --model fgtui --shapes llama2-7b --packed-doc-len 2048 --lo 65536 --hi 65536
echo "=== attention bench"; timeout 40 python3 bench/attention_bench.py
echo "=== ablation"; timeout 240 python3 bench/packed_step_bench.py --variants tutorial,compile-blocks,offload-prefetch,no-offload,attn-sdpa,adafactor-pytorch,no-fused-ce,ckpt-every-2 --layers 4 --steps 4 --timeout 40
