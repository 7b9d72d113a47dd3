import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_ROOT } from './proto-files.js';
import { declarationLines, protocComment } from './source-locations.js';

// Real FileDescriptorProtos of .proto files, one per file, named by the import path other files use
// (`select/common/v1/common.proto`), with their dependency lists and every type reference fully qualified.
// proto-loader's own descriptors merge each package into one made-up file (`select_common_v1.proto`)
// with no dependencies and relative type names, which reflection clients in other languages (grpcurl,
// Python's descriptor pool) cannot resolve.

const require = createRequire(import.meta.url);
const descriptorTypes = protobuf.Root.fromJSON(require('protobufjs/google/protobuf/descriptor.json') as protobuf.INamespace);
const FileDescriptorProtoType = descriptorTypes.lookupType('google.protobuf.FileDescriptorProto');

// FieldDescriptorProto.Type and .Label numbers (google/protobuf/descriptor.proto).
const SCALAR_TYPES: Record<string, number> = {
  double: 1,
  float: 2,
  int64: 3,
  uint64: 4,
  int32: 5,
  fixed64: 6,
  fixed32: 7,
  bool: 8,
  string: 9,
  bytes: 12,
  uint32: 13,
  sfixed32: 15,
  sfixed64: 16,
  sint32: 17,
  sint64: 18,
};
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_OPTIONAL = 1;
const LABEL_REQUIRED = 2;
const LABEL_REPEATED = 3;

/** A google.protobuf.FileDescriptorProto as a plain object (protobufjs field names: camelCase). */
export interface FileDescriptorObject {
  name: string;
  package?: string;
  dependency: string[];
  syntax?: string;
  messageType: Record<string, unknown>[];
  enumType: Record<string, unknown>[];
  service: Record<string, unknown>[];
  extension: Record<string, unknown>[];
  options?: Record<string, unknown>;
  /** The .proto's comments on its declarations (absent for bundled files and files without comments). */
  sourceCodeInfo?: { location: Record<string, unknown>[] };
}

export interface FileDescriptorOptions {
  /** Directories the files and their imports are looked up in, first match wins. @default [PROTO_ROOT] */
  includeDirs?: readonly string[];
  /**
   * Served names for files whose path under an include directory differs from the import path the rest
   * of the world uses, e.g. `{ 'health/v1/health.proto': 'grpc/health/v1/health.proto' }`. Applied to
   * names and to dependency lists alike. @default {}
   */
  renames?: Readonly<Record<string, string>>;
}

interface SourceFile {
  /** Import path (relative to its include directory, or a bundled google/protobuf name). */
  name: string;
  /** Absolute path, or the bundled name when protobufjs ships the file. */
  location: string;
  package: string;
  imports: string[];
  syntax: 'proto2' | 'proto3';
  /** The source text (undefined for a bundled file). */
  text: string | undefined;
  /** The file parsed on its own: what it declares and its file options. */
  own: protobuf.Root;
}

/**
 * FileDescriptorProtos of `files` (import paths, e.g. `select/retrieval/v1/retrieval.proto`) and of
 * everything they import, dependencies before the files that import them.
 */
export function buildFileDescriptors(files: readonly string[], options: FileDescriptorOptions = {}): FileDescriptorObject[] {
  const includeDirs = options.includeDirs ?? [PROTO_ROOT];
  const renames = options.renames ?? {};
  const sources = new Map<string, SourceFile>();
  const order: SourceFile[] = [];
  const visit = (name: string, chain: readonly string[]): void => {
    if (chain.includes(name)) throw new Error(`Import cycle: ${[...chain, name].join(' -> ')}`);
    if (sources.has(name)) return;
    const source = readSourceFile(name, includeDirs);
    sources.set(name, source);
    for (const dep of source.imports) visit(dep, [...chain, name]);
    order.push(source);
  };
  for (const file of files) visit(file, []);

  // One root holding every file, so each type reference resolves to its fully qualified name.
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => sources.get(target)?.location ?? target;
  for (const source of order) {
    if (isAbsolute(source.location)) {
      root.loadSync(source.location, { keepCase: true, alternateCommentMode: true });
    } else if (!root.files.includes(source.name)) {
      // A bundled well-known file (google/protobuf/*.proto) that no loaded file has pulled in yet.
      root.addJSON(bundledJson(source.name).nested ?? {});
      root.files.push(source.name);
    }
  }
  root.resolveAll();

  const served = (name: string): string => renames[name] ?? name;
  return order.map((source) => describeFile(source, root, served));
}

/** `buildFileDescriptors`, each file encoded as google.protobuf.FileDescriptorProto bytes. */
export function encodeFileDescriptors(files: readonly FileDescriptorObject[]): Buffer[] {
  return files.map((file) => Buffer.from(FileDescriptorProtoType.encode(FileDescriptorProtoType.fromObject(file)).finish()));
}

/** Decodes google.protobuf.FileDescriptorProto bytes (what reflection serves) into a plain object. */
export function decodeFileDescriptor(bytes: Uint8Array): FileDescriptorObject {
  const object = FileDescriptorProtoType.toObject(FileDescriptorProtoType.decode(bytes), { arrays: true, longs: Number, enums: Number });
  return object as FileDescriptorObject;
}

function bundledJson(name: string): protobuf.INamespace {
  const json = protobuf.common.get(name) as protobuf.INamespace | null;
  if (!json) throw new Error(`${name} is not a bundled protobuf file`);
  return json;
}

function readSourceFile(name: string, includeDirs: readonly string[]): SourceFile {
  const location = includeDirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
  if (!location) {
    if (name.startsWith('google/protobuf/') && protobuf.common.get(name)) {
      const own = protobuf.Root.fromJSON(bundledJson(name));
      return { name, location: name, package: 'google.protobuf', imports: [], syntax: 'proto3', text: undefined, own };
    }
    throw new Error(`Cannot find ${name} in ${includeDirs.join(', ')}`);
  }
  const text = readFileSync(location, 'utf8');
  const syntax = /^\s*syntax\s*=\s*["']proto3["']/m.test(text) ? 'proto3' : 'proto2';
  if (/^\s*edition\s*=/m.test(text)) throw new Error(`${name}: protobuf editions are not supported`);
  const parsed = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
  return {
    name,
    location,
    package: parsed.package ?? '',
    imports: [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])],
    syntax,
    text,
    own: parsed.root,
  };
}

/** The objects a file declares at its top level (inside its package namespaces). */
function topLevelObjects(own: protobuf.Root, pkg: string): protobuf.ReflectionObject[] {
  const ns = pkg ? own.lookup(pkg) : own;
  if (!(ns instanceof protobuf.Namespace)) return [];
  return ns.nestedArray.filter((o) => o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service || o instanceof protobuf.Field);
}

function describeFile(source: SourceFile, root: protobuf.Root, served: (name: string) => string): FileDescriptorObject {
  const file: FileDescriptorObject = {
    name: served(source.name),
    dependency: source.imports.map(served),
    messageType: [],
    enumType: [],
    service: [],
    extension: [],
  };
  if (source.package) file.package = source.package;
  if (source.syntax === 'proto3') file.syntax = 'proto3';
  const pkgNamespace = source.package ? source.own.lookup(source.package) : source.own;
  const fileOptions = fileOptionsOf(pkgNamespace?.options);
  if (fileOptions) file.options = fileOptions;
  for (const declared of topLevelObjects(source.own, source.package)) {
    const resolved = root.lookup(declared.fullName);
    if (resolved instanceof protobuf.Type) file.messageType.push(describeMessage(resolved, source.syntax));
    else if (resolved instanceof protobuf.Enum) file.enumType.push(describeEnum(resolved));
    else if (resolved instanceof protobuf.Service) file.service.push(describeService(resolved));
    else if (resolved instanceof protobuf.Field) file.extension.push(describeField(resolved, source.syntax));
    else throw new Error(`${source.name}: cannot resolve ${declared.fullName}`);
  }
  if (source.text !== undefined) {
    const location = sourceLocations(file, source.text, root);
    if (location.length > 0) file.sourceCodeInfo = { location };
  }
  return file;
}

type Described = Record<string, unknown>;
const list = (value: unknown): Described[] => (Array.isArray(value) ? (value as Described[]) : []);

/**
 * SourceCodeInfo locations (descriptor.proto paths: file message_type 4, enum_type 5, service 6; message field 2,
 * nested_type 3, enum_type 4, oneof_decl 8; enum value 2; service method 2) of every commented declaration.
 */
function sourceLocations(file: FileDescriptorObject, text: string, root: protobuf.Root): Described[] {
  const lines = declarationLines(text);
  const prefix = file.package ? `.${file.package}.` : '.';
  const locations: Described[] = [];
  const add = (path: number[], relative: string, comment: string | null | undefined): void => {
    const at = lines.get(relative);
    if (!comment || !at) return;
    locations.push({ path, span: [at.line, 0, at.length], [at.trailingComment ? 'trailingComments' : 'leadingComments']: protocComment(comment) });
  };
  const walkEnum = (e: Described, path: number[], relative: string): void => {
    const found = root.lookup(prefix + relative);
    const en = found instanceof protobuf.Enum ? found : undefined;
    add(path, relative, en?.comment);
    list(e['value']).forEach((v, j) => add([...path, 2, j], `${relative}.${String(v['name'])}`, en?.comments[String(v['name'])]));
  };
  const walkMessage = (m: Described, path: number[], relative: string): void => {
    const found = root.lookup(prefix + relative);
    const type = found instanceof protobuf.Type ? found : undefined;
    add(path, relative, type?.comment);
    list(m['field']).forEach((f, j) => add([...path, 2, j], `${relative}.${String(f['name'])}`, type?.fields[String(f['name'])]?.comment));
    list(m['nestedType']).forEach((n, k) => {
      if ((n['options'] as Described | undefined)?.['mapEntry'] !== true) walkMessage(n, [...path, 3, k], `${relative}.${String(n['name'])}`);
    });
    list(m['enumType']).forEach((e, k) => walkEnum(e, [...path, 4, k], `${relative}.${String(e['name'])}`));
    list(m['oneofDecl']).forEach((o, k) => add([...path, 8, k], `${relative}.${String(o['name'])}`, type?.oneofs?.[String(o['name'])]?.comment));
  };
  file.messageType.forEach((m, i) => walkMessage(m, [4, i], String(m['name'])));
  file.enumType.forEach((e, i) => walkEnum(e, [5, i], String(e['name'])));
  file.service.forEach((svc, i) => {
    const found = root.lookup(prefix + String(svc['name']));
    const service = found instanceof protobuf.Service ? found : undefined;
    add([6, i], String(svc['name']), service?.comment);
    list(svc['method']).forEach((m, j) => add([6, i, 2, j], `${String(svc['name'])}.${String(m['name'])}`, service?.methods[String(m['name'])]?.comment));
  });
  return locations;
}

const FILE_OPTION_FIELDS = new Set(Object.keys(descriptorTypes.lookupType('google.protobuf.FileOptions').fields));

function fileOptionsOf(options: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!options) return undefined;
  const known = Object.entries(options)
    .map(([key, value]) => [protobuf.util.camelCase(key), value] as const)
    .filter(([key]) => FILE_OPTION_FIELDS.has(key) && key !== 'features' && key !== 'uninterpretedOption');
  return known.length > 0 ? Object.fromEntries(known) : undefined;
}

function qualified(object: protobuf.ReflectionObject): string {
  return object.fullName.startsWith('.') ? object.fullName : `.${object.fullName}`;
}

/** protoc's default json_name: underscores dropped, the letter after each one upper-cased. */
function jsonName(name: string): string {
  return name.replace(/_+([a-zA-Z0-9]?)/g, (_m, next: string) => next.toUpperCase());
}

/** protoc's map entry message name: `metadata_equals` -> `MetadataEqualsEntry`. */
function mapEntryName(field: string): string {
  const camel = jsonName(field);
  return `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
}

function fieldType(type: string, resolved: protobuf.Type | protobuf.Enum | null, owner: string): { type: number; typeName?: string } {
  const scalar = SCALAR_TYPES[type];
  if (scalar !== undefined) return { type: scalar };
  if (resolved instanceof protobuf.Enum) return { type: TYPE_ENUM, typeName: qualified(resolved) };
  if (resolved instanceof protobuf.Type) return { type: TYPE_MESSAGE, typeName: qualified(resolved) };
  throw new Error(`${owner}: unresolved type ${type}`);
}

function describeField(field: protobuf.Field, syntax: 'proto2' | 'proto3', oneofIndex?: number): Record<string, unknown> {
  field.resolve();
  const options = (field.options ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    name: field.name,
    number: field.id,
    label: field.repeated ? LABEL_REPEATED : field.required && syntax === 'proto2' ? LABEL_REQUIRED : LABEL_OPTIONAL,
    ...fieldType(field.type, field.resolvedType, qualified(field)),
    jsonName: typeof options['json_name'] === 'string' ? options['json_name'] : jsonName(field.name),
  };
  if (field.extend !== undefined) {
    const extendee = field.extensionField?.parent ?? field.parent?.lookup(field.extend);
    out['extendee'] = extendee ? qualified(extendee) : field.extend;
  }
  if (oneofIndex !== undefined) out['oneofIndex'] = oneofIndex;
  if (options['proto3_optional'] === true) out['proto3Optional'] = true;
  if (syntax === 'proto2' && options['default'] !== undefined) out['defaultValue'] = String(options['default']);
  const fieldOptions: Record<string, unknown> = {};
  if (options['deprecated'] === true) fieldOptions['deprecated'] = true;
  if (typeof options['packed'] === 'boolean') fieldOptions['packed'] = options['packed'];
  if (Object.keys(fieldOptions).length > 0) out['options'] = fieldOptions;
  return out;
}

function describeMessage(type: protobuf.Type, syntax: 'proto2' | 'proto3'): Record<string, unknown> {
  // Synthetic oneofs (one per proto3 `optional` field) must follow the real ones.
  const isSynthetic = (oneof: protobuf.OneOf): boolean =>
    oneof.fieldsArray.length === 1 && (oneof.fieldsArray[0]?.options as Record<string, unknown> | undefined)?.['proto3_optional'] === true;
  const oneofs = [...type.oneofsArray.filter((o) => !isSynthetic(o)), ...type.oneofsArray.filter(isSynthetic)];
  const field: Record<string, unknown>[] = [];
  const nestedType: Record<string, unknown>[] = [];
  for (const f of type.fieldsArray) {
    if (f instanceof protobuf.MapField) {
      const entry = mapEntryName(f.name);
      f.resolve();
      nestedType.push({
        name: entry,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, ...fieldType(f.keyType, null, qualified(f)), jsonName: 'key' },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, ...fieldType(f.type, f.resolvedType, qualified(f)), jsonName: 'value' },
        ],
        options: { mapEntry: true },
      });
      field.push({
        name: f.name,
        number: f.id,
        label: LABEL_REPEATED,
        type: TYPE_MESSAGE,
        typeName: `${qualified(type)}.${entry}`,
        jsonName: jsonName(f.name),
      });
      continue;
    }
    const index = f.partOf ? oneofs.indexOf(f.partOf) : -1;
    field.push(describeField(f, syntax, index >= 0 ? index : undefined));
  }
  const enumType: Record<string, unknown>[] = [];
  const extension: Record<string, unknown>[] = [];
  for (const nested of type.nestedArray) {
    if (nested instanceof protobuf.Type) nestedType.push(describeMessage(nested, syntax));
    else if (nested instanceof protobuf.Enum) enumType.push(describeEnum(nested));
    else if (nested instanceof protobuf.Field) extension.push(describeField(nested, syntax));
  }
  const out: Record<string, unknown> = { name: type.name, field, nestedType, enumType, extension, oneofDecl: oneofs.map((o) => ({ name: o.name })) };
  const reservedRange: { start: number; end: number }[] = [];
  const reservedName: string[] = [];
  for (const r of type.reserved ?? []) {
    if (typeof r === 'string') reservedName.push(r);
    else reservedRange.push({ start: r[0] ?? 0, end: (r[1] ?? 0) + 1 }); // descriptor ranges are end-exclusive
  }
  if (reservedRange.length > 0) out['reservedRange'] = reservedRange;
  if (reservedName.length > 0) out['reservedName'] = reservedName;
  if (type.extensions) out['extensionRange'] = type.extensions.map(([start = 0, end = start]) => ({ start, end: end + 1 }));
  if ((type.options as Record<string, unknown> | undefined)?.['deprecated'] === true) out['options'] = { deprecated: true };
  return out;
}

function describeEnum(e: protobuf.Enum): Record<string, unknown> {
  const value = Object.entries(e.values).map(([name, number]) => ({ name, number }));
  const out: Record<string, unknown> = { name: e.name, value };
  const numbers = new Set(value.map((v) => v.number));
  const options = (e.options ?? {}) as Record<string, unknown>;
  if (numbers.size < value.length || options['allow_alias'] === true) out['options'] = { allowAlias: true };
  const reservedRange: { start: number; end: number }[] = [];
  const reservedName: string[] = [];
  for (const r of e.reserved ?? []) {
    if (typeof r === 'string') reservedName.push(r);
    else reservedRange.push({ start: r[0] ?? 0, end: r[1] ?? 0 }); // enum reserved ranges are end-inclusive
  }
  if (reservedRange.length > 0) out['reservedRange'] = reservedRange;
  if (reservedName.length > 0) out['reservedName'] = reservedName;
  return out;
}

function describeService(service: protobuf.Service): Record<string, unknown> {
  return {
    name: service.name,
    method: service.methodsArray.map((m) => {
      m.resolve();
      if (!m.resolvedRequestType || !m.resolvedResponseType) throw new Error(`${qualified(m)}: unresolved request or response type`);
      const method: Record<string, unknown> = {
        name: m.name,
        inputType: qualified(m.resolvedRequestType),
        outputType: qualified(m.resolvedResponseType),
      };
      if (m.requestStream) method['clientStreaming'] = true;
      if (m.responseStream) method['serverStreaming'] = true;
      const options = (m.options ?? {}) as Record<string, unknown>;
      const methodOptions: Record<string, unknown> = {};
      if (options['deprecated'] === true) methodOptions['deprecated'] = true;
      if (typeof options['idempotency_level'] === 'string') methodOptions['idempotencyLevel'] = options['idempotency_level'];
      if (Object.keys(methodOptions).length > 0) method['options'] = methodOptions;
      return method;
    }),
  };
}
