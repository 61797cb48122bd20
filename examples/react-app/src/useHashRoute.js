import { useEffect, useState } from 'react';

/** A router small enough for an example: #/login, #/signup, #/me, #/admin. */
export function useHashRoute() {
  const read = () => window.location.hash.replace(/^#/, '') || '/me';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const go = (route) => {
  window.location.hash = route;
};
