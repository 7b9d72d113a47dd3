#!/usr/bin/env python3
"""Exports a timm training checkpoint (model_best.pth.tar / last.pth.tar) to ONNX with timm.utils.onnx.

Writes <out>/model.onnx (input `pixel_values` [batch, 3, H, W], output `logits` [batch, classes]) and
<out>/config.json in timm's Hugging Face layout (architecture, num_classes, pretrained_cfg with the evaluation
preprocessing: input_size, crop_pct, interpolation, mean, std) plus `label_names` (wnids in class-index order)
when --classes is given. Checks the ONNX graph and compares onnxruntime's logits with PyTorch's (atol 1e-3).
Prints one JSON line: {"onnx": path, "config": path, "max_abs_diff": x, "epoch": n, "metric": m}.
"""
import argparse
import json
import os

import numpy as np
import torch

import timm
from timm.data import resolve_data_config
from timm.utils.onnx import onnx_export


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--model', required=True)
    p.add_argument('--num-classes', type=int, required=True)
    p.add_argument('--img-size', type=int, required=True)
    p.add_argument('--crop-pct', type=float, default=None)
    p.add_argument('--interpolation', default='')
    p.add_argument('--mean', type=float, nargs=3, default=None)
    p.add_argument('--std', type=float, nargs=3, default=None)
    p.add_argument('--classes', default='', help='JSON file: wnids in class-index order')
    p.add_argument('--out', required=True)
    p.add_argument('--opset', type=int, default=17)
    args = p.parse_args()

    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
    model = timm.create_model(args.model, pretrained=False, num_classes=args.num_classes)
    state = ckpt['state_dict'] if isinstance(ckpt, dict) and 'state_dict' in ckpt else ckpt
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    model.load_state_dict(state)
    model.eval()
    data_cfg = resolve_data_config({'img_size': args.img_size, 'crop_pct': args.crop_pct,
                                    'interpolation': args.interpolation or None, 'mean': args.mean, 'std': args.std},
                                   model=model)
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, 'model.onnx')
    tmp_path = onnx_path + '.tmp'
    example = torch.randn((2,) + tuple(data_cfg['input_size']))
    onnx_export(model, tmp_path, example_input=example, opset=args.opset, check=True,
                input_names=['pixel_values'], output_names=['logits'])
    import onnxruntime as ort
    sess = ort.InferenceSession(tmp_path, providers=['CPUExecutionProvider'])
    probe = torch.randn((3,) + tuple(data_cfg['input_size']))
    with torch.no_grad():
        ref = model(probe).numpy()
    got = sess.run(None, {'pixel_values': probe.numpy()})[0]
    diff = float(np.abs(ref - got).max())
    if diff > 1e-3:
        raise SystemExit(f'ONNX logits differ from PyTorch by {diff} (> 1e-3): export not trusted')
    os.replace(tmp_path, onnx_path)

    pretrained_cfg = dict(model.pretrained_cfg)
    pretrained_cfg.update({
        'input_size': list(data_cfg['input_size']),
        'crop_pct': data_cfg['crop_pct'],
        'crop_mode': data_cfg.get('crop_mode', 'center'),
        'interpolation': data_cfg['interpolation'],
        'mean': list(data_cfg['mean']),
        'std': list(data_cfg['std']),
        'num_classes': args.num_classes,
    })
    pretrained_cfg = {k: v for k, v in pretrained_cfg.items() if isinstance(v, (str, int, float, bool, list, tuple))}
    config = {
        'architecture': args.model,
        'num_classes': args.num_classes,
        'num_features': int(getattr(model, 'num_features', 0)),
        'global_pool': getattr(model, 'global_pool', None) and 'avg',
        'pretrained_cfg': pretrained_cfg,
        'onnx': {'input': 'pixel_values', 'output': 'logits', 'opset': args.opset,
                 'exporter': f'timm.utils.onnx (timm {timm.__version__}, torch {torch.__version__})'},
    }
    if args.classes:
        with open(args.classes) as f:
            names = json.load(f)
        if len(names) != args.num_classes:
            raise SystemExit(f'--classes lists {len(names)} classes, the model has {args.num_classes}')
        config['label_names'] = names
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    print(json.dumps({'onnx': onnx_path, 'config': os.path.join(args.out, 'config.json'), 'max_abs_diff': diff,
                      'epoch': ckpt.get('epoch') if isinstance(ckpt, dict) else None,
                      'metric': ckpt.get('metric') if isinstance(ckpt, dict) else None}))


if __name__ == '__main__':
    main()
