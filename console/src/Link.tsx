// A link inside the console: a real `href` (open in a new tab, copy the address), followed
// in-app by the router on a plain click.
import type { AnchorHTMLAttributes, MouseEvent } from 'react';
import { BASE, navigate } from './router';

type Props = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { to: string };

export function Link({ to, onClick, ...rest }: Props) {
  const follow = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    // A modified or middle click keeps the browser's own behaviour (a new tab or window).
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={BASE + to} onClick={follow} {...rest} />;
}
