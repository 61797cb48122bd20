// The Node stack the tutorials show: Express + express-jwt + jwks-rsa + Apollo Server.
import express from 'express';
import { expressjwt } from 'express-jwt';
import jwksRsa from 'jwks-rsa';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import { env, typeDefs, resolvers, jwksOptions, stats } from './common.mjs';

const app = express();
app.get('/__stats', (_req, res) => res.json(stats));

const server = new ApolloServer({ typeDefs, resolvers: resolvers((ctx) => ctx.auth) });
await server.start();

app.use(
  '/graphql',
  express.json(),
  expressjwt({
    secret: jwksRsa.expressJwtSecret(jwksOptions()),
    audience: env.audience,
    issuer: env.issuer,
    algorithms: ['RS256'],
    credentialsRequired: false,
  }),
  expressMiddleware(server, { context: async ({ req }) => ({ auth: req.auth }) }),
);

// express-jwt's rejection (and jwks-rsa's unknown kid): 401 with a GraphQL-shaped body
const refusals = new Set(['UnauthorizedError', 'SigningKeyNotFoundError', 'JwksRateLimitError', 'JwksError']);
app.use((err, _req, res, next) => {
  if (refusals.has(err?.name)) {
    res.status(401).json({ errors: [{ message: 'invalid token', extensions: { code: 'UNAUTHENTICATED' } }] });
  } else {
    next(err);
  }
});

const listener = app.listen(env.port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${listener.address().port}`);
});
