import { describe, expect, it } from 'vitest';
import { expandShardPattern } from './brace-expansion.js';

describe('expandShardPattern', () => {
  it('expands zero-padded shard ranges the way webdataset does', () => {
    expect(expandShardPattern('data/{00000..00003}.tar')).toEqual(['data/00000.tar', 'data/00001.tar', 'data/00002.tar', 'data/00003.tar']);
    expect(expandShardPattern('{8..11}.tar')).toEqual(['8.tar', '9.tar', '10.tar', '11.tar']);
  });

  it('expands lists, several groups and :: separated patterns', () => {
    expect(expandShardPattern('{train,val}-{0..1}.tar::extra.tar')).toEqual(['train-0.tar', 'train-1.tar', 'val-0.tar', 'val-1.tar', 'extra.tar']);
    expect(expandShardPattern('{a,b{1..2}}.tar')).toEqual(['a.tar', 'b1.tar', 'b2.tar']);
  });

  it('leaves braces that name nothing to expand as they are', () => {
    expect(expandShardPattern('odd{x}name.tar')).toEqual(['odd{x}name.tar']);
  });
});
