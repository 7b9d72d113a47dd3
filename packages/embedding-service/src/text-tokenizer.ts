import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

/** Token ids of one text, cut to the model's context. */
export interface TokenizedText {
  ids: number[];
  /** Tokens of the whole text, special tokens included, before any cut. */
  tokenCount: number;
  /** The text had more tokens than the context holds and was cut. */
  truncated: boolean;
}

/**
 * A model's own tokenizer (tokenizer.json + tokenizer_config.json, run by @huggingface/tokenizers) with
 * Hugging Face's truncation: the content is cut so that it and the special tokens fit `maxTokens`, and the
 * special tokens (CLIP's start/end, BERT's [CLS]/[SEP]) are kept, as `tokenizer(text, truncation=True)` does.
 */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly prefix: number[];
  private readonly suffix: number[];
  /** Id that pads shorter texts in a batch (masked out by the attention mask). */
  readonly padId: number;

  constructor(
    tokenizerJson: string,
    tokenizerConfig: string,
    readonly maxTokens: number,
  ) {
    const json = JSON.parse(readFileSync(tokenizerJson, 'utf8')) as object;
    const config = JSON.parse(readFileSync(tokenizerConfig, 'utf8')) as Record<string, unknown>;
    this.tokenizer = new Tokenizer(json, config);
    // Where the post-processor puts special tokens around the content, learnt from a probe
    const probe = 'a';
    const withSpecial = this.tokenizer.encode(probe).ids;
    const content = this.tokenizer.encode(probe, { add_special_tokens: false }).ids;
    const at = withSpecial.indexOf(content[0]!);
    this.prefix = withSpecial.slice(0, at);
    this.suffix = withSpecial.slice(at + content.length);
    const pad = typeof config['pad_token'] === 'string' ? this.tokenizer.token_to_id(config['pad_token']) : undefined;
    this.padId = pad ?? 0;
  }

  encode(text: string): TokenizedText {
    const content = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const specials = this.prefix.length + this.suffix.length;
    const room = this.maxTokens - specials;
    const truncated = content.length > room;
    const kept = truncated ? content.slice(0, room) : content;
    return { ids: [...this.prefix, ...kept, ...this.suffix], tokenCount: content.length + specials, truncated };
  }
}
