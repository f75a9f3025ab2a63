// Follows an execution's progress stream, reconnecting while it is not final.
import { useEffect, useState } from 'react';
import { getToken } from './auth';
import { api } from './api/client';
import type { Progress } from './api/types';
import { streamEvents } from './sse';

export function isFinal(status: string): boolean {
  return status === 'completed' || status === 'failed';
}

export function useProgress(executionId: string | null): { progress: Progress | null; lost: boolean } {
  const [progress, setProgress] = useState<Progress | null>(null);
  const [lost, setLost] = useState(false);
  useEffect(() => {
    if (!executionId) return;
    const abort = new AbortController();
    let final = false;
    (async () => {
      while (!final && !abort.signal.aborted) {
        try {
          await streamEvents(
            api.eventsUrl(executionId),
            getToken() ?? '',
            (ev) => {
              if (ev.event !== 'progress') return;
              const p = JSON.parse(ev.data) as Progress;
              setProgress(p);
              setLost(false);
              if (isFinal(p.status)) final = true;
            },
            abort.signal,
          );
        } catch {
          if (abort.signal.aborted) return;
          setLost(true);
        }
        if (!final && !abort.signal.aborted) await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    return () => abort.abort();
  }, [executionId]);
  return { progress, lost };
}
