import { clone, createFileRegistry, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type DescriptorProto, type FieldDescriptorProto } from '@bufbuild/protobuf/wkt';

/**
 * The same service under another proto package: a copy of the file that
 * declares `service`, with its package (and every type reference into it)
 * renamed to `pkg`. The messages are field-for-field the originals, so one
 * implementation serves both names and the bytes on the wire are the same;
 * reflection lists the copy like any other file.
 *
 * Why: the contract (spec "Service Definition") names no proto package, and
 * sibling MarchProxy modules are documented as `marchproxy.module.ModuleService`,
 * while our proto says `marchproxy.module.v1`. Clients of either name get an answer.
 *
 * The file must import nothing from its own package in another file (module.proto imports nothing).
 * Typed as the original service: the methods, kinds and fields are the same; only the
 * messages' type names differ, which handlers returning plain init objects never see.
 */
export function serviceInPackage<S extends DescService>(service: S, pkg: string): S {
  const original = service.file.proto;
  const from = `.${original.package}.`;
  const to = `.${pkg}.`;
  // FileDescriptorProto is proto2: assigning "" would mark an unset field present (an extension of ""), so only
  // references into the package are written.
  const renamed = (typeName: string | undefined): string | undefined =>
    typeName?.startsWith(from) === true ? to + typeName.slice(from.length) : undefined;
  const proto = clone(FileDescriptorProtoSchema, original);
  proto.package = pkg;
  proto.name = `${pkg.replaceAll('.', '/')}/${original.name.split('/').pop() ?? 'alias.proto'}`;
  const fix = (field: FieldDescriptorProto): void => {
    const typeName = renamed(field.typeName);
    if (typeName !== undefined) field.typeName = typeName;
    const extendee = renamed(field.extendee);
    if (extendee !== undefined) field.extendee = extendee;
  };
  const visit = (message: DescriptorProto): void => {
    message.field.forEach(fix);
    message.extension.forEach(fix);
    message.nestedType.forEach(visit);
  };
  proto.messageType.forEach(visit);
  proto.extension.forEach(fix);
  for (const svc of proto.service) {
    for (const method of svc.method) {
      method.inputType = renamed(method.inputType) ?? method.inputType;
      method.outputType = renamed(method.outputType) ?? method.outputType;
    }
  }
  const registry = createFileRegistry(proto, (name) => service.file.dependencies.find((d) => d.proto.name === name));
  const alias = registry.getService(`${pkg}.${service.name}`);
  if (alias === undefined) throw new Error(`serviceInPackage: ${pkg}.${service.name} missing from its own copy`);
  return alias as S;
}
