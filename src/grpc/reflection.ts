/**
 * gRPC server reflection (grpc/doc/server-reflection.md), both
 * grpc.reflection.v1 and the older grpc.reflection.v1alpha that some clients
 * still try first. Answers list_services, file_by_filename,
 * file_containing_symbol, file_containing_extension and
 * all_extension_numbers_of_type from the protobuf-es descriptors embedded in
 * the generated code, so tools such as `buf curl` and grpcurl need no .proto
 * files. Bind with `grpcService(ServerReflection, reflection.implementationV1())`
 * (and likewise v1alpha).
 */
import { toBinary, type DescExtension, type DescFile, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { ServerReflection as ServerReflectionV1 } from '../gen/grpc/reflection/v1/reflection_pb.ts';
import { ServerReflection as ServerReflectionV1alpha } from '../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { GrpcCode, type ServiceImpl } from './adapter.ts';

/** A reflection request, as both v1 and v1alpha decode it. */
export interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices'; value: string }
    | { case: 'fileContainingExtension'; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** A reflection response as an init shape both v1 and v1alpha accept. */
export interface ReflectionAnswer {
  validHost: string;
  originalRequest: { host: string; messageRequest: ReflectionRequest['messageRequest'] };
  messageResponse:
    | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
    | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
    | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };
}

/** Server reflection over a fixed set of services and the files that declare them. */
export class ReflectionService {
  readonly #serviceNames: string[];
  readonly #files = new Map<string, DescFile>();
  readonly #symbols = new Map<string, DescFile>();
  readonly #extensions = new Map<string, DescExtension[]>();
  readonly #bytes = new Map<DescFile, Uint8Array>();

  /** `services`: what the server offers; the two reflection services are added. */
  constructor(services: readonly DescService[]) {
    const all = [...services, ServerReflectionV1, ServerReflectionV1alpha];
    this.#serviceNames = [...new Set(all.map((s) => s.typeName))].sort();
    for (const service of all) this.#addFile(service.file);
  }

  /** Handlers for grpc.reflection.v1.ServerReflection. */
  implementationV1(): ServiceImpl<typeof ServerReflectionV1> {
    return { serverReflectionInfo: (reqs) => this.#serve(reqs) };
  }

  /** Handlers for grpc.reflection.v1alpha.ServerReflection (same answers). */
  implementationV1alpha(): ServiceImpl<typeof ServerReflectionV1alpha> {
    return { serverReflectionInfo: (reqs) => this.#serve(reqs) };
  }

  /** Answers one request; errors are reported in-band as ErrorResponse, as the protocol asks. */
  answer(req: ReflectionRequest): ReflectionAnswer {
    const base = { validHost: req.host, originalRequest: { host: req.host, messageRequest: copyRequest(req.messageRequest) } };
    const mr = req.messageRequest;
    switch (mr.case) {
      case 'listServices':
        return { ...base, messageResponse: { case: 'listServicesResponse', value: { service: this.#serviceNames.map((name) => ({ name })) } } };
      case 'fileByFilename':
        return this.#fileAnswer(base, this.#files.get(mr.value), `file "${mr.value}"`);
      case 'fileContainingSymbol':
        return this.#fileAnswer(base, this.#symbols.get(mr.value.replace(/^\./, '')), `symbol "${mr.value}"`);
      case 'fileContainingExtension': {
        const ext = this.#extensions
          .get(mr.value.containingType)
          ?.find((e) => e.number === mr.value.extensionNumber);
        return this.#fileAnswer(base, ext?.file, `extension ${mr.value.containingType}(${mr.value.extensionNumber})`);
      }
      case 'allExtensionNumbersOfType': {
        if (!this.#symbols.has(mr.value)) return error(base, GrpcCode.NOT_FOUND, `type "${mr.value}" not found`);
        const numbers = (this.#extensions.get(mr.value) ?? []).map((e) => e.number);
        return { ...base, messageResponse: { case: 'allExtensionNumbersResponse', value: { baseTypeName: mr.value, extensionNumber: numbers } } };
      }
      default:
        return error(base, GrpcCode.INVALID_ARGUMENT, 'empty reflection request');
    }
  }

  async *#serve(reqs: AsyncIterable<ReflectionRequest>): AsyncGenerator<ReflectionAnswer> {
    for await (const req of reqs) yield this.answer(req);
  }

  /** The file first, then its transitive dependencies, each once. */
  #fileAnswer(base: Pick<ReflectionAnswer, 'validHost' | 'originalRequest'>, file: DescFile | undefined, what: string): ReflectionAnswer {
    if (file === undefined) return error(base, GrpcCode.NOT_FOUND, `${what} not found`);
    const seen = new Set<DescFile>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile): void => {
      if (seen.has(f)) return;
      seen.add(f);
      out.push(this.#serialized(f));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return { ...base, messageResponse: { case: 'fileDescriptorResponse', value: { fileDescriptorProto: out } } };
  }

  #serialized(file: DescFile): Uint8Array {
    let bytes = this.#bytes.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.#bytes.set(file, bytes);
    }
    return bytes;
  }

  #addFile(file: DescFile): void {
    if (this.#files.has(file.proto.name)) return;
    this.#files.set(file.proto.name, file);
    for (const dep of file.dependencies) this.#addFile(dep);
    const addExtension = (ext: DescExtension): void => {
      this.#symbols.set(ext.typeName, file);
      const list = this.#extensions.get(ext.extendee.typeName) ?? [];
      list.push(ext);
      this.#extensions.set(ext.extendee.typeName, list);
    };
    const addMessage = (msg: DescMessage): void => {
      this.#symbols.set(msg.typeName, file);
      for (const nested of msg.nestedMessages) addMessage(nested);
      for (const e of msg.nestedEnums) this.#symbols.set(e.typeName, file);
      for (const ext of msg.nestedExtensions) addExtension(ext);
    };
    for (const msg of file.messages) addMessage(msg);
    for (const e of file.enums) this.#symbols.set(e.typeName, file);
    for (const ext of file.extensions) addExtension(ext);
    for (const svc of file.services) {
      this.#symbols.set(svc.typeName, file);
      for (const m of svc.methods) this.#symbols.set(`${svc.typeName}.${m.name}`, file);
    }
  }
}

function copyRequest(mr: ReflectionRequest['messageRequest']): ReflectionRequest['messageRequest'] {
  if (mr.case === 'fileContainingExtension') {
    return { case: mr.case, value: { containingType: mr.value.containingType, extensionNumber: mr.value.extensionNumber } };
  }
  return mr.case === undefined ? { case: undefined } : { case: mr.case, value: mr.value };
}

function error(base: Pick<ReflectionAnswer, 'validHost' | 'originalRequest'>, errorCode: number, errorMessage: string): ReflectionAnswer {
  return { ...base, messageResponse: { case: 'errorResponse', value: { errorCode, errorMessage } } };
}
