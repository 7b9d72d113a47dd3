import { createHash, timingSafeEqual } from 'node:crypto';
import {
  InterceptingCall,
  Metadata,
  ServerInterceptingCall,
  status as GrpcStatus,
  type Interceptor,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';

/** Methods under these prefixes answer without a token: orchestrators probe health unauthenticated. */
export const AUTH_EXEMPT_PREFIXES: readonly string[] = ['/grpc.health.v1.Health/'];

// Hashing first makes the comparison constant-time regardless of the presented token's length.
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function presentedToken(metadata: Metadata): string | undefined {
  const header = metadata.get('authorization')[0];
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

/**
 * A server interceptor that ends every call not carrying `authorization: Bearer <one of tokens>`
 * with UNAUTHENTICATED before its handler runs. Health checks are exempt.
 */
export function bearerAuthInterceptor(tokens: readonly string[], logger: Logger): ServerInterceptor {
  if (tokens.length === 0 || tokens.some((t) => t === '')) {
    throw new Error('Bearer auth needs at least one non-empty token');
  }
  const accepted = tokens.map(digest);
  return (method, call) => {
    if (AUTH_EXEMPT_PREFIXES.some((prefix) => method.path.startsWith(prefix))) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, forward) => {
            const token = presentedToken(metadata);
            if (token !== undefined) {
              const presented = digest(token);
              if (accepted.some((a) => timingSafeEqual(a, presented))) {
                forward(metadata);
                return;
              }
            }
            logger.warn(
              { method: method.path, peer: call.getPeer(), code: 'UNAUTHENTICATED', tokenPresent: token !== undefined },
              'rpc rejected: missing or invalid bearer token',
            );
            call.sendStatus({
              code: GrpcStatus.UNAUTHENTICATED,
              details: token === undefined ? 'Missing bearer token' : 'Invalid bearer token',
              metadata: new Metadata(),
            });
          },
        });
      },
    });
  };
}

/**
 * A client interceptor adding `authorization: Bearer <token>` to every call. Metadata rather than
 * call credentials, because grpc-js refuses call credentials on insecure (loopback) channels.
 */
export function bearerTokenInterceptor(token: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}
