import 'reflect-metadata';
import { Inject } from '@nestjs/common';
import { ErrorCode, PropelError } from '../errors';
import { IdempotencyService, type IdempotentOptions } from './idempotency.service';

/** The property the service is injected into on a provider with `@Idempotent` methods. */
const SERVICE_PROPERTY = '__propelIdempotency';
const injected = new WeakSet<object>();

/**
 * Makes a method of a Nest provider idempotent: calls with the same key run the method once; duplicates get the
 * first result, a marker or an error by the operation's strategy (see docs/idempotency.md). The provider's
 * module must be able to see `IdempotencyModule.forRoot(…)` (it is global). The method becomes async.
 */
export function Idempotent<A extends any[]>(options: IdempotentOptions<A>) {
  // The key and payload expressions may read a prefix of the arguments: A types that prefix.
  return (target: object, propertyKey: string | symbol, descriptor: TypedPropertyDescriptor<(...args: [...A, ...any[]]) => any>): void => {
    const original = descriptor.value;
    if (typeof original !== 'function') throw new TypeError('@Idempotent() decorates methods only');
    if (!injected.has(target)) {
      Inject(IdempotencyService)(target, SERVICE_PROPERTY);
      injected.add(target);
    }
    const operation = options.name ?? `${target.constructor.name}.${String(propertyKey)}`;
    const wrapped = async function (this: Record<string, unknown>, ...args: [...A, ...any[]]): Promise<unknown> {
      const service = this[SERVICE_PROPERTY] as IdempotencyService | undefined;
      if (!service) {
        throw new PropelError(ErrorCode.InvalidConfig, `${operation} is @Idempotent but no IdempotencyService was injected: import IdempotencyModule.forRoot(…) in the application module`);
      }
      return service.run(operation, options, args as unknown as A, () => original.apply(this, args));
    };
    // Keep metadata other decorators put on the method (message patterns, guards) and its name.
    for (const key of Reflect.getMetadataKeys(original)) Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
    Object.defineProperty(wrapped, 'name', { value: original.name });
    descriptor.value = wrapped;
  };
}
