import { Anchor, Text } from '@mantine/core';
import { Link, useParams } from 'react-router';
import { isApiError } from '../api/errors';

/**
 * Under an error: when it is a hard plan quota (429 `QUOTA_EXCEEDED`), the way out, a link to the
 * organization's Plan & billing page (reachable whatever the quota: the billing routes are exempt).
 */
export function QuotaExceededNote({ error }: { readonly error: unknown }) {
  const { org } = useParams();
  if (!isApiError(error, 429, 'QUOTA_EXCEEDED') || !org) return null;
  return (
    <Text size="sm">
      The organization reached a limit of its plan.{' '}
      {/* The alert's text colour, underlined: the theme's link blue is too faint on a red alert. */}
      <Anchor component={Link} to={`/o/${encodeURIComponent(org)}/billing`} c="inherit" underline="always">
        See usage and change plan in Plan &amp; billing
      </Anchor>
      .
    </Text>
  );
}
