import { Alert, Anchor, Paper, Stack, Switch, Text, Title } from '@mantine/core';
import { Link } from 'react-router';
import { describeError, isApiError } from '../../../api/errors';
import { QueryState } from '../../../components/QueryState';
import { useOrganization } from '../../organizations/api/getOrganization';
import { useOrg } from '../../organizations/components/org-context';
import { useSetTwoFactorPolicy } from '../api/setTwoFactorPolicy';

/** Whether every member needs two-factor authentication to open the organization (`org:update`). */
export function TwoFactorSection() {
  const { org, can } = useOrg();
  const organization = useOrganization(org.slug);
  const policy = useSetTwoFactorPolicy(org.slug);
  const allowed = can('org:update');
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-security">
      <Stack gap="sm">
        <Title order={2} size="h4" id="org-security">
          Security
        </Title>
        <QueryState query={organization} what="the organization">
          {(o) => (
            <Switch
              label="Require two-factor authentication"
              description="Members who have not turned on two-factor authentication are sent to set it up before they can open this organization."
              checked={policy.isPending ? policy.variables : o.requireTwoFactor}
              disabled={!allowed || policy.isPending}
              onChange={(e) => policy.mutate(e.currentTarget.checked)}
            />
          )}
        </QueryState>
        {!allowed ? (
          <Text size="sm" c="dimmed">
            Your role cannot change this.
          </Text>
        ) : null}
        {policy.error ? (
          <Alert color="red" role="alert" title="The requirement was not changed">
            <Text size="sm">{describeError(policy.error)}</Text>
            {isApiError(policy.error, undefined, 'TWO_FACTOR_ENROLLMENT_REQUIRED') ? (
              <Text size="sm" mt="xs">
                Turn on two-factor authentication for your own account first, so that requiring it does not
                lock you out:{' '}
                <Anchor component={Link} to="/account/two-factor" c="inherit" underline="always">
                  set up two-factor authentication
                </Anchor>
                .
              </Text>
            ) : null}
          </Alert>
        ) : null}
      </Stack>
    </Paper>
  );
}
