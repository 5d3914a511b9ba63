import { Alert, Anchor, Stack, Table, Text, Title } from '@mantine/core';
import { Link, useParams } from 'react-router';
import { isApiError } from '../../../api/errors';
import { QueryState } from '../../../components/QueryState';
import { useOrg } from '../../organizations/components/org-context';
import { useProject } from '../api/getProject';

/**
 * `/o/:org/projects/:id`: one project. An id from another organization reads "not found", exactly as
 * the API answers it (the row is invisible to this tenant, not forbidden).
 */
export default function ProjectPage() {
  const { org } = useOrg();
  const { id = '' } = useParams();
  const project = useProject(org.slug, id);
  const back = (
    <Anchor component={Link} to={`/o/${org.slug}/projects`} size="sm">
      ← All projects
    </Anchor>
  );
  if (isApiError(project.error, 404)) {
    return (
      <Stack align="flex-start">
        {back}
        <Alert color="gray" title="Project not found" role="alert">
          <Text size="sm">There is no project at this address in {org.name}.</Text>
        </Alert>
      </Stack>
    );
  }
  return (
    <Stack gap="md" align="flex-start">
      {back}
      <QueryState query={project} what="the project">
        {(p) => (
          <>
            <Title order={1} size="h2">
              {p.name}
            </Title>
            <Table variant="vertical" withTableBorder>
              <Table.Tbody>
                <Table.Tr>
                  <Table.Th>Description</Table.Th>
                  <Table.Td>{p.description ?? '—'}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Created</Table.Th>
                  <Table.Td>{new Date(p.createdAt).toLocaleString()}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Updated</Table.Th>
                  <Table.Td>{new Date(p.updatedAt).toLocaleString()}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Id</Table.Th>
                  <Table.Td>
                    <Text size="sm" ff="monospace" className="break-anywhere">
                      {p.id}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              </Table.Tbody>
            </Table>
          </>
        )}
      </QueryState>
    </Stack>
  );
}
