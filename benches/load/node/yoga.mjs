// graphql-yoga + @graphql-yoga/plugin-jwt, verifying against the same JWKS.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import {
  useJWT,
  createRemoteJwksSigningKeyProvider,
  extractFromHeader,
} from '@graphql-yoga/plugin-jwt';
import { env, typeDefs, resolvers, jwksOptions, stats } from './common.mjs';

const yoga = createYoga({
  graphqlEndpoint: '/graphql',
  logging: false,
  schema: createSchema({ typeDefs, resolvers: resolvers((ctx) => ctx.jwt?.payload) }),
  plugins: [
    useJWT({
      signingKeyProviders: [createRemoteJwksSigningKeyProvider(jwksOptions())],
      tokenLookupLocations: [extractFromHeader({ name: 'authorization', prefix: 'Bearer' })],
      tokenVerification: { issuer: env.issuer, audience: env.audience, algorithms: ['RS256'] },
      reject: { missingToken: false, invalidToken: true },
    }),
  ],
});

const server = createServer((req, res) => {
  if (req.url === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return;
  }
  yoga(req, res);
});
server.listen(env.port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
