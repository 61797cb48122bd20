import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApolloProvider } from '@apollo/client/react';
import { client } from './apollo.js';
import { restoreSession } from './session.js';
import App from './App.jsx';
import './style.css';

// Before the first render, and once (StrictMode runs effects twice): trade the
// refresh cookie, if any, for an access token, so a reload keeps the user in.
restoreSession();

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <ApolloProvider client={client}>
      <App />
    </ApolloProvider>
  </StrictMode>,
);
