// Shared by the two peer servers: settings from the environment, the SDL,
// and the resolvers (the same answers authgate gives for the two workloads).
import { GraphQLError } from 'graphql';

export const env = {
  port: Number(process.env.PORT ?? 0),
  jwksUri: must('JWKS_URL'), // the emulator's /.well-known/jwks.json
  issuer: must('ISSUER'), // e.g. http://127.0.0.1:PORT/
  audience: must('AUDIENCE'), // https://api.authgate.local
  ordersUrl: must('ORDERS_URL'), // the example orders service, e.g. http://127.0.0.1:PORT
};

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return v;
}

export const typeDefs = /* GraphQL */ `
  type Me { id: ID! email: String permissions: [String!]! }
  type Order { id: ID! total: Float! status: String! customerId: ID! createdBy: String }
  type Query { me: Me orders: [Order!]! }
`;

function unauthenticated() {
  return new GraphQLError('authentication required', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
  });
}

// `claims` is the verified payload (or undefined).
export function resolvers(claimsOf) {
  return {
    Query: {
      me: (_p, _a, ctx) => {
        const c = claimsOf(ctx);
        if (!c) return null;
        return { id: c.sub, email: c.email ?? null, permissions: c.permissions ?? [] };
      },
      orders: async (_p, _a, ctx) => {
        const c = claimsOf(ctx);
        if (!c) throw unauthenticated();
        if (!(c.permissions ?? []).includes('read:orders')) {
          throw new GraphQLError('forbidden', { extensions: { code: 'FORBIDDEN' } });
        }
        // identity forwarded as headers, like authgate's claims_headers
        const r = await fetch(`${env.ordersUrl}/orders`, {
          headers: {
            'x-user-id': c.sub,
            'x-user-permissions': (c.permissions ?? []).join(' '),
          },
        });
        if (!r.ok) throw new GraphQLError(`orders service answered ${r.status}`);
        return r.json();
      },
    },
  };
}

// jwks-rsa as the tutorials configure it, counting key-set fetches (the
// `unknown-kid` workload reads GET /__stats).
export const stats = { jwksFetches: 0 };
export function jwksOptions() {
  return {
    jwksUri: env.jwksUri,
    cache: true,
    rateLimit: true,
    jwksRequestsPerMinute: 5,
    fetcher: async (uri) => {
      stats.jwksFetches += 1;
      const r = await fetch(uri);
      return r.json();
    },
  };
}
