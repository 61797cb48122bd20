/** The GraphQL endpoint of authgate. */
export const GRAPHQL_URL =
  import.meta.env.VITE_AUTHGATE_URL || `${window.location.protocol}//${window.location.hostname}:4000/graphql`;
