import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from './errors.js';

/** Most characters of dropped prompt text a truncation notice quotes (the notice also goes into every image's metadata). */
export const MAX_QUOTED_DROPPED_CHARS = 160;

/**
 * `"text"`, or its first MAX_QUOTED_DROPPED_CHARS characters (cut at a word) and how many more there were.
 * ASCII only ("...", not an ellipsis character): the notice is also written into PNG text chunks, which are Latin-1.
 */
function quoteStart(text: string): string {
  if (text.length <= MAX_QUOTED_DROPPED_CHARS) return `"${text}"`;
  const cut = text.slice(0, MAX_QUOTED_DROPPED_CHARS);
  const atWord = cut.lastIndexOf(' ');
  const head = (atWord > MAX_QUOTED_DROPPED_CHARS / 2 ? cut.slice(0, atWord) : cut).trimEnd();
  return `"${head}..." and ${text.length - head.length} more characters`;
}

export interface TokenizedPrompt {
  /** Exactly `maxLength` ids: BOS, tokens, EOS, padding. */
  readonly ids: BigInt64Array;
  /** Set when the prompt did not fit; says how much was dropped (the user hears about it). */
  readonly truncation: string | undefined;
}

/**
 * The CLIP tokenizer of an SD export, run by @huggingface/tokenizers from the export's tokenizer.json,
 * with diffusers' prompt handling: pad to model_max_length (77), truncate longer prompts keeping EOS.
 */
export class ClipTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly maxLength: number,
    private readonly padId: number,
    private readonly eosId: number,
  ) {}

  static async load(directory: string): Promise<ClipTokenizer> {
    let json: unknown;
    let config: Record<string, unknown>;
    try {
      json = JSON.parse(await readFile(join(directory, 'tokenizer.json'), 'utf8'));
      config = JSON.parse(await readFile(join(directory, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new ModelLoadError(`tokenizer at ${directory} is missing tokenizer.json or tokenizer_config.json`, { cause });
    }
    const tokenizer = new Tokenizer(json as object, config);
    const maxLength = typeof config['model_max_length'] === 'number' && config['model_max_length'] < 10_000 ? config['model_max_length'] : 77;
    const tokenName = (v: unknown): string | undefined => (typeof v === 'string' ? v : (v as { content?: string } | undefined)?.content);
    const eos = tokenizer.token_to_id(tokenName(config['eos_token']) ?? '<|endoftext|>');
    const pad = tokenizer.token_to_id(tokenName(config['pad_token']) ?? '<|endoftext|>') ?? eos;
    if (eos === undefined || pad === undefined) throw new ModelLoadError(`tokenizer at ${directory} has no end-of-text token`);
    return new ClipTokenizer(tokenizer, maxLength, pad, eos);
  }

  encode(prompt: string): TokenizedPrompt {
    const ids = this.tokenizer.encode(prompt).ids;
    let truncation: string | undefined;
    let kept: number[] = ids;
    if (ids.length > this.maxLength) {
      kept = [...ids.slice(0, this.maxLength - 1), this.eosId];
      const droppedIds = ids.slice(this.maxLength - 1, -1);
      const dropped = this.tokenizer.decode(droppedIds, { skip_special_tokens: true }).trim();
      truncation = `prompt truncated to ${this.maxLength} tokens (CLIP's limit); dropped ${droppedIds.length} ${droppedIds.length === 1 ? 'token' : 'tokens'}: ${quoteStart(dropped)}`;
    }
    const out = new BigInt64Array(this.maxLength).fill(BigInt(this.padId));
    kept.forEach((id: number, i: number) => (out[i] = BigInt(id)));
    return { ids: out, truncation };
  }
}
