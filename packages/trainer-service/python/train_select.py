#!/usr/bin/env python3
"""SELECT's training script on timm's library API (timm's train.py is not on PyPI).

Takes the arguments of timm's train.py that SELECT's recipe uses (and a train.py-style YAML config via -c), trains
with create_model / create_dataset('wds/...') / create_loader / create_optimizer_v2 / create_scheduler_v2 /
Mixup / label smoothing / CheckpointSaver / update_summary, and writes what train.py writes:
<output>/<experiment>/summary.csv (one row per epoch), last.pth.tar, model_best.pth.tar, args.yaml, and log lines
in train.py's format ("Train: <epoch> [<idx>/<n> (..%)]  Loss: ..  LR: ..").

Single process, or several under torchrun (DistributedDataParallel, gloo on CPU / nccl on CUDA).
"""
import argparse
import logging
import math
import os
import sys
import time
from collections import OrderedDict
from contextlib import nullcontext

import torch
import torch.nn as nn
import yaml

from timm.data import Mixup, create_dataset, create_loader, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.models import create_model, resume_checkpoint, safe_model_name
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import AverageMeter, CheckpointSaver, accuracy, random_seed, update_summary

_logger = logging.getLogger('train')

config_parser = argparse.ArgumentParser(description='Training Config', add_help=False)
config_parser.add_argument('-c', '--config', default='', type=str, metavar='FILE', help='YAML config (train.py format)')

parser = argparse.ArgumentParser(description='SELECT training on timm')
group = parser.add_argument_group('Dataset')
group.add_argument('data', nargs='?', metavar='DIR', help='path to dataset (positional, as train.py)')
group.add_argument('--data-dir', metavar='DIR', help='path to dataset (root dir)')
group.add_argument('--dataset', metavar='NAME', default='', help='dataset type + name, e.g. wds/select')
group.add_argument('--train-split', default='train')
group.add_argument('--val-split', default='validation')
group.add_argument('--train-num-samples', default=None, type=int)
group.add_argument('--val-num-samples', default=None, type=int)
group.add_argument('--class-map', default='', type=str)
group = parser.add_argument_group('Model')
group.add_argument('--model', default='resnet50', type=str)
group.add_argument('--pretrained', action='store_true', default=False)
group.add_argument('--num-classes', type=int, default=None)
group.add_argument('--img-size', type=int, default=None)
group.add_argument('--in-chans', type=int, default=None)
group.add_argument('--input-size', default=None, nargs=3, type=int)
group.add_argument('--crop-pct', default=None, type=float)
group.add_argument('--mean', type=float, nargs='+', default=None)
group.add_argument('--std', type=float, nargs='+', default=None)
group.add_argument('--interpolation', default='', type=str)
group.add_argument('-b', '--batch-size', type=int, default=128)
group.add_argument('-vb', '--validation-batch-size', type=int, default=None)
group.add_argument('--drop', type=float, default=0.0)
group.add_argument('--drop-path', type=float, default=None)
group = parser.add_argument_group('Optimizer')
group.add_argument('--opt', default='sgd', type=str)
group.add_argument('--opt-eps', default=None, type=float)
group.add_argument('--momentum', type=float, default=0.9)
group.add_argument('--weight-decay', type=float, default=2e-5)
group.add_argument('--clip-grad', type=float, default=None)
group = parser.add_argument_group('Learning rate schedule')
group.add_argument('--sched', type=str, default='cosine')
group.add_argument('--sched-on-updates', action='store_true', default=False)
group.add_argument('--lr', type=float, default=None)
group.add_argument('--lr-base', type=float, default=0.1)
group.add_argument('--lr-base-size', type=int, default=256)
group.add_argument('--min-lr', type=float, default=0)
group.add_argument('--epochs', type=int, default=300)
group.add_argument('--warmup-lr', type=float, default=1e-5)
group.add_argument('--warmup-epochs', type=int, default=5)
group.add_argument('--warmup-prefix', action='store_true', default=False)
group.add_argument('--cooldown-epochs', type=int, default=0)
group.add_argument('--decay-rate', '--dr', type=float, default=0.1)
group = parser.add_argument_group('Augmentation and regularization')
group.add_argument('--no-aug', action='store_true', default=False)
group.add_argument('--scale', type=float, nargs='+', default=[0.08, 1.0])
group.add_argument('--ratio', type=float, nargs='+', default=[3. / 4., 4. / 3.])
group.add_argument('--hflip', type=float, default=0.5)
group.add_argument('--color-jitter', type=float, default=0.4)
group.add_argument('--aa', type=str, default=None)
group.add_argument('--reprob', type=float, default=0.)
group.add_argument('--mixup', type=float, default=0.0)
group.add_argument('--cutmix', type=float, default=0.0)
group.add_argument('--mixup-prob', type=float, default=1.0)
group.add_argument('--mixup-switch-prob', type=float, default=0.5)
group.add_argument('--mixup-mode', type=str, default='batch')
group.add_argument('--mixup-off-epoch', default=0, type=int)
group.add_argument('--smoothing', type=float, default=0.1)
group.add_argument('--train-interpolation', type=str, default='random')
group = parser.add_argument_group('Miscellaneous')
group.add_argument('--seed', type=int, default=42)
group.add_argument('--log-interval', type=int, default=50)
group.add_argument('--checkpoint-hist', type=int, default=10)
group.add_argument('-j', '--workers', type=int, default=4)
group.add_argument('--amp', action='store_true', default=False)
group.add_argument('--amp-dtype', default='float16', type=str)
group.add_argument('--channels-last', action='store_true', default=False)
group.add_argument('--no-prefetcher', action='store_true', default=False)
group.add_argument('--pin-mem', action='store_true', default=False)
group.add_argument('--output', default='', type=str)
group.add_argument('--experiment', default='', type=str)
group.add_argument('--eval-metric', default='top1', type=str)
group.add_argument('--resume', default='', type=str)
group.add_argument('--no-resume-opt', action='store_true', default=False)
group.add_argument('--start-epoch', default=None, type=int)
group.add_argument('--device', default='', type=str, help='cuda, cpu; empty: cuda when available')


def _parse_args():
    args_config, remaining = config_parser.parse_known_args()
    if args_config.config:
        with open(args_config.config, 'r') as f:
            cfg = yaml.safe_load(f) or {}
            unknown = [k for k in cfg if not hasattr(parser.parse_args([]), k)]
            if unknown:
                _logger.warning(f'config keys not used by this script: {", ".join(sorted(unknown))}')
            parser.set_defaults(**cfg)
    args = parser.parse_args(remaining)
    args_text = yaml.safe_dump(args.__dict__, default_flow_style=False)
    return args, args_text


def _distributed():
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    return world_size, rank, local_rank


def main():
    logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)
    args, args_text = _parse_args()
    world_size, rank, local_rank = _distributed()
    args.distributed = world_size > 1
    args.world_size, args.rank = world_size, rank
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device(f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    if args.distributed:
        torch.distributed.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    data_dir = args.data_dir or args.data
    if not data_dir:
        parser.error('--data-dir is required')
    if args.num_classes is None:
        parser.error('--num-classes is required')

    random_seed(args.seed, rank)
    model = create_model(
        args.model,
        pretrained=args.pretrained,
        num_classes=args.num_classes,
        in_chans=args.in_chans or 3,
        drop_rate=args.drop,
        drop_path_rate=args.drop_path,
    )
    data_config = resolve_data_config(vars(args), model=model, verbose=rank == 0)
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    if args.lr is None:
        args.lr = args.lr_base * args.batch_size * world_size / args.lr_base_size
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum, eps=args.opt_eps)
    # AMP: float16 autocast + GradScaler on CUDA as train.py does; on CPU the run is float32 (no useful CPU AMP)
    use_amp = args.amp and device.type == 'cuda'
    amp_autocast = (lambda: torch.autocast(device_type='cuda', dtype=torch.float16)) if use_amp else nullcontext
    loss_scaler = torch.amp.GradScaler('cuda') if use_amp else None
    if args.amp and not use_amp and rank == 0:
        _logger.info('AMP requested but the device is CPU: training in float32')

    resume_epoch = None
    if args.resume:
        resume_epoch = resume_checkpoint(model, args.resume, optimizer=None if args.no_resume_opt else optimizer,
                                         log_info=rank == 0, weights_only=False)
    if args.distributed:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == 'cuda' else None)

    dataset_train = create_dataset(args.dataset, root=data_dir, split=args.train_split, is_training=True,
                                   class_map=args.class_map, batch_size=args.batch_size,
                                   num_samples=args.train_num_samples, seed=args.seed)
    dataset_eval = create_dataset(args.dataset, root=data_dir, split=args.val_split, is_training=False,
                                  class_map=args.class_map, batch_size=args.validation_batch_size or args.batch_size,
                                  num_samples=args.val_num_samples)

    mixup_fn = None
    mixup_active = args.mixup > 0 or args.cutmix > 0.
    if mixup_active:
        mixup_fn = Mixup(mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, prob=args.mixup_prob,
                         switch_prob=args.mixup_switch_prob, mode=args.mixup_mode,
                         label_smoothing=args.smoothing, num_classes=args.num_classes)
    train_interpolation = args.train_interpolation
    if args.no_aug or not train_interpolation:
        train_interpolation = data_config['interpolation']
    loader_train = create_loader(
        dataset_train, input_size=data_config['input_size'], batch_size=args.batch_size, is_training=True,
        no_aug=args.no_aug, re_prob=args.reprob, scale=args.scale, ratio=args.ratio, hflip=args.hflip,
        color_jitter=args.color_jitter, auto_augment=args.aa, interpolation=train_interpolation,
        mean=data_config['mean'], std=data_config['std'], num_workers=args.workers, distributed=args.distributed,
        pin_memory=args.pin_mem, device=device, use_prefetcher=not args.no_prefetcher and device.type == 'cuda',
        persistent_workers=args.workers > 0,
    )
    loader_eval = create_loader(
        dataset_eval, input_size=data_config['input_size'], batch_size=args.validation_batch_size or args.batch_size,
        is_training=False, interpolation=data_config['interpolation'], mean=data_config['mean'],
        std=data_config['std'], num_workers=args.workers, distributed=args.distributed,
        crop_pct=data_config['crop_pct'], pin_memory=args.pin_mem, device=device,
        use_prefetcher=not args.no_prefetcher and device.type == 'cuda', persistent_workers=args.workers > 0,
    )

    if mixup_active:
        train_loss_fn = SoftTargetCrossEntropy()
    elif args.smoothing:
        train_loss_fn = LabelSmoothingCrossEntropy(smoothing=args.smoothing)
    else:
        train_loss_fn = nn.CrossEntropyLoss()
    train_loss_fn = train_loss_fn.to(device)
    validate_loss_fn = nn.CrossEntropyLoss().to(device)

    updates_per_epoch = max(1, len(loader_train))
    lr_scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, min_lr=args.min_lr, warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs, warmup_prefix=args.warmup_prefix, cooldown_epochs=args.cooldown_epochs,
        decay_rate=args.decay_rate, step_on_epochs=not args.sched_on_updates, updates_per_epoch=updates_per_epoch,
    )
    start_epoch = 0
    if args.start_epoch is not None:
        start_epoch = args.start_epoch
    elif resume_epoch is not None:
        start_epoch = resume_epoch
    if lr_scheduler is not None and start_epoch > 0:
        if args.sched_on_updates:
            lr_scheduler.step_update(start_epoch * updates_per_epoch)
        else:
            lr_scheduler.step(start_epoch)

    saver = None
    output_dir = None
    if rank == 0:
        exp_name = args.experiment or '-'.join([time.strftime('%Y%m%d-%H%M%S'), safe_model_name(args.model),
                                                str(data_config['input_size'][-1])])
        output_dir = os.path.join(args.output or './output/train', exp_name)
        os.makedirs(output_dir, exist_ok=True)
        saver = CheckpointSaver(model=model, optimizer=optimizer, args=args, amp_scaler=loss_scaler,
                                checkpoint_dir=output_dir, recovery_dir=output_dir,
                                decreasing=args.eval_metric == 'loss', max_history=args.checkpoint_hist)
        if args.resume and os.path.dirname(os.path.abspath(args.resume)) == os.path.abspath(output_dir):
            saver.load_state_dict_from_checkpoint(args.resume)
        with open(os.path.join(output_dir, 'args.yaml'), 'w') as f:
            f.write(args_text)
        _logger.info(f'Scheduled epochs: {num_epochs}. LR stepped per {"update" if args.sched_on_updates else "epoch"}. '
                     f'Updates per epoch: {updates_per_epoch}. Start epoch: {start_epoch}.')

    for epoch in range(start_epoch, num_epochs):
        if hasattr(dataset_train, 'set_epoch'):
            dataset_train.set_epoch(epoch)
        if mixup_fn is not None and args.mixup_off_epoch and epoch >= args.mixup_off_epoch:
            mixup_fn.mixup_enabled = False
        train_metrics = train_one_epoch(epoch, model, loader_train, optimizer, train_loss_fn, args, device,
                                        lr_scheduler, amp_autocast, loss_scaler, mixup_fn, updates_per_epoch)
        eval_metrics = validate(model, loader_eval, validate_loss_fn, args, device, amp_autocast)
        lrs = [g['lr'] for g in optimizer.param_groups]
        if output_dir is not None:
            update_summary(epoch, train_metrics, eval_metrics, filename=os.path.join(output_dir, 'summary.csv'),
                           lr=sum(lrs) / len(lrs))
        if saver is not None:
            best_metric, best_epoch = saver.save_checkpoint(epoch, metric=eval_metrics[args.eval_metric])
            _logger.info(f'*** Best metric: {best_metric} (epoch {best_epoch})')
        if lr_scheduler is not None:
            lr_scheduler.step(epoch + 1, eval_metrics[args.eval_metric])
    if args.distributed:
        torch.distributed.destroy_process_group()


def train_one_epoch(epoch, model, loader, optimizer, loss_fn, args, device, lr_scheduler, amp_autocast,
                    loss_scaler, mixup_fn, updates_per_epoch):
    model.train()
    losses_m, update_time_m, data_time_m = AverageMeter(), AverageMeter(), AverageMeter()
    num_updates = epoch * updates_per_epoch
    end = time.time()
    last_idx = updates_per_epoch - 1
    for batch_idx, (input, target) in enumerate(loader):
        data_time_m.update(time.time() - end)
        input, target = input.to(device), target.to(device)
        if mixup_fn is not None:
            input, target = mixup_fn(input, target)
        if args.channels_last:
            input = input.contiguous(memory_format=torch.channels_last)
        with amp_autocast():
            output = model(input)
            loss = loss_fn(output, target)
        if not math.isfinite(loss.item()):
            raise RuntimeError(f'loss is {loss.item()} at epoch {epoch} step {batch_idx}: training diverged')
        optimizer.zero_grad()
        if loss_scaler is not None:
            loss_scaler.scale(loss).backward()
            if args.clip_grad is not None:
                loss_scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            loss_scaler.step(optimizer)
            loss_scaler.update()
        else:
            loss.backward()
            if args.clip_grad is not None:
                nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            optimizer.step()
        losses_m.update(loss.item(), input.size(0))
        num_updates += 1
        update_time_m.update(time.time() - end)
        end = time.time()
        if (batch_idx == last_idx or batch_idx % args.log_interval == 0) and args.rank == 0:
            lrl = [g['lr'] for g in optimizer.param_groups]
            lr = sum(lrl) / len(lrl)
            samples = input.size(0) * args.world_size
            _logger.info(
                f'Train: {epoch} [{batch_idx:>4d}/{updates_per_epoch} '
                f'({100. * (batch_idx + 1) / updates_per_epoch:>3.0f}%)]  '
                f'Loss: {losses_m.val:#.3g} ({losses_m.avg:#.3g})  '
                f'Time: {update_time_m.val:.3f}s, {samples / update_time_m.val:>7.2f}/s  '
                f'({update_time_m.avg:.3f}s, {samples / update_time_m.avg:>7.2f}/s)  '
                f'LR: {lr:.3e}  '
                f'Data: {data_time_m.val:.3f} ({data_time_m.avg:.3f})'
            )
        if lr_scheduler is not None:
            lr_scheduler.step_update(num_updates=num_updates, metric=losses_m.avg)
    return OrderedDict([('loss', losses_m.avg)])


def validate(model, loader, loss_fn, args, device, amp_autocast):
    """Loss, top-1 and top-5 over the validation split. Under torchrun the ranks' sums are reduced once at the
    end, so ranks with different numbers of batches (a WebDataset split is cut by shards) cannot deadlock."""
    model.eval()
    maxk = min(5, args.num_classes)
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss * n, correct@1, correct@k, n
    with torch.no_grad():
        for input, target in loader:
            input, target = input.to(device), target.to(device)
            if args.channels_last:
                input = input.contiguous(memory_format=torch.channels_last)
            with amp_autocast():
                output = model(input)
                loss = loss_fn(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, maxk))
            n = input.size(0)
            sums += torch.tensor([loss.item() * n, acc1.item() * n / 100.0, acc5.item() * n / 100.0, n],
                                 dtype=torch.float64, device=device)
    if args.distributed:
        torch.distributed.all_reduce(sums)
    count = max(1.0, sums[3].item())
    metrics = OrderedDict([('loss', sums[0].item() / count), ('top1', 100.0 * sums[1].item() / count),
                           ('top5', 100.0 * sums[2].item() / count)])
    if args.rank == 0:
        _logger.info(f"Test: Loss: {metrics['loss']:>7.3f}  Acc@1: {metrics['top1']:>7.3f}  Acc@5: {metrics['top5']:>7.3f}")
    return metrics


if __name__ == '__main__':
    main()
