// A component whose code is loaded on first use, like React.lazy but without Suspense: React
// holds a Suspense boundary's content back for up to 300 ms after its code arrives (the fallback
// throttle), which made the report's charts appear that much later. Until the code is here the
// fallback shows; `preload` starts loading early (the campaign page does, while its data loads).
import { useEffect, useState, type ComponentType, type ReactNode } from 'react';

export function lazyComponent<P extends object>(load: () => Promise<{ default: ComponentType<P> }>) {
  let loaded: ComponentType<P> | null = null;
  let loading: Promise<ComponentType<P>> | null = null;
  const preload = () => {
    loading ??= load().then(
      (m) => (loaded = m.default),
      (e: unknown) => {
        loading = null; // a failed download may be retried by the next use
        throw e;
      },
    );
    return loading;
  };
  function Lazy({ fallback, ...props }: P & { fallback: ReactNode }) {
    const [Component, setComponent] = useState<ComponentType<P> | null>(() => loaded);
    useEffect(() => {
      if (Component) return;
      let live = true;
      preload().then(
        (c) => live && setComponent(() => c),
        () => {},
      );
      return () => {
        live = false;
      };
    }, [Component]);
    return Component ? <Component {...(props as unknown as P)} /> : <>{fallback}</>;
  }
  return { Lazy, preload };
}
