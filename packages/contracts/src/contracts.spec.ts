import type * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, EventCodecError, loadProto, packageDefinition } from './index.js';
import type { SampleCurated__Output } from './index.js';

describe('protos', () => {
  it('declares every service of the system in a versioned package', () => {
    const services = (['embedding', 'retrieval', 'generation', 'trainer', 'evaluator', 'curation'] as const).flatMap((area) =>
      Object.entries(packageDefinition(area))
        .filter(([, def]) => typeof (def as grpc.ServiceDefinition)['constructor'] === 'function' && !('format' in def))
        .map(([name]) => name),
    );
    expect(services).toEqual(
      expect.arrayContaining([
        'select.embedding.v1.EmbeddingService',
        'select.retrieval.v1.RetrievalService',
        'select.generation.v1.GenerationService',
        'select.trainer.v1.TrainerService',
        'select.evaluator.v1.EvaluatorService',
        'select.curation.v1.CuratorService',
      ]),
    );
  });

  it('gives grpc-js client constructors', () => {
    const proto = loadProto('embedding');
    expect(typeof proto.select.embedding.v1.EmbeddingService).toBe('function');
    expect(proto.select.embedding.v1.EmbeddingService.service.EmbedImages.requestStream).toBe(true);
  });
});

describe('event codec', () => {
  it('round-trips an event body with nested provenance and 64-bit seeds', () => {
    const body = encodeMessage('select.events.v1.SampleCurated', {
      sampleId: 's1',
      shiftId: 'shift-a',
      classIndex: 207,
      wnid: 'n02099601',
      score: 0.83,
      provenance: { strategy: 'sd-txt2img', seed: '9007199254740993', prompt: 'A photo of golden retriever' },
    });
    const back = decodeMessage<SampleCurated__Output>('select.events.v1.SampleCurated', body);
    expect(back.classIndex).toBe(207);
    expect(back.provenance?.seed).toBe('9007199254740993');
    expect(back.provenance?.prompt).toBe('A photo of golden retriever');
    expect(back.shard).toBe('');
  });

  it('rejects a body that is not the named message', () => {
    expect(() => decodeMessage('select.events.v1.SampleCurated', Buffer.from([0xff, 0xff, 0xff]))).toThrow(EventCodecError);
    expect(() => encodeMessage('select.events.v1.Nope', {})).toThrow(/unknown event message type/);
  });
});
