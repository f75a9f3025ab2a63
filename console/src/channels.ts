// The channels a campaign can use, in the order the pages list them.
import type { Channel } from './api/types';

export const CHANNELS: Channel[] = ['sms', 'email', 'push_notification', 'wechat'];
