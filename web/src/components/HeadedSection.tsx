import type { ReactNode } from 'react';
import { Stack, Title } from '@mantine/core';

/**
 * A page section named by its own heading (`aria-labelledby`), so assistive technology lists it under that
 * name: the layout of the plan, invoice and quota sections of the billing and usage pages.
 */
export function HeadedSection({
  id,
  title,
  children,
}: {
  /** The heading's id; unique on the page. */
  readonly id: string;
  readonly title: ReactNode;
  readonly children: ReactNode;
}) {
  return (
    <Stack gap="sm" component="section" aria-labelledby={id}>
      <Title order={2} size="h3" id={id}>
        {title}
      </Title>
      {children}
    </Stack>
  );
}
