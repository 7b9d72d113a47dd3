#!/usr/bin/env python3
"""A training command for the trainer's failure tests: its behaviour follows the recipe's model name.

model "crash": prints a traceback and exits 1 after a step line; "garbage": prints bytes that are no text and exits
0 without writing anything; "bad-summary": writes a summary.csv whose row is not numbers; anything else: runs the
project's train_select.py with the same arguments.
"""
import os
import runpy
import sys

args = sys.argv[1:]
config = args[args.index('-c') + 1]
model = next(line.split(':', 1)[1].strip().strip('"') for line in open(config) if line.startswith('model:'))
if model == 'crash':
    print('Train: 0 [   0/10 ( 10%)]  Loss: 1.39 (1.39)  Time: 0.052s,  305.91/s  (0.052s,  305.91/s)  LR: 1.000e-01  Data: 0.020 (0.020)', flush=True)
    print('Traceback (most recent call last):\n  File "train.py", line 1\nRuntimeError: CUDA error: out of memory (simulated)', file=sys.stderr, flush=True)
    sys.exit(1)
if model == 'garbage':
    sys.stdout.buffer.write(bytes(range(256)) * 4 + b'\n')
    sys.stdout.flush()
    sys.exit(0)
if model == 'bad-summary':
    out = os.path.join(args[args.index('--output') + 1], args[args.index('--experiment') + 1])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'summary.csv'), 'w') as f:
        f.write('epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n0,0.5,oops,50,100,0.1\n')
    sys.exit(0)
sys.argv = [os.path.join(os.path.dirname(__file__), '..', 'train_select.py')] + args
runpy.run_path(sys.argv[0], run_name='__main__')
