import { useSyncExternalStore } from 'react';
import { getSession, subscribe } from './session.js';

export const useSession = () => useSyncExternalStore(subscribe, getSession);
