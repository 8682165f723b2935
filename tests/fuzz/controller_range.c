/* controller_range.c -- fuzz the image server's Range header parser; a range it accepts lies inside the file */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: 8 bytes of file size (little-endian, 0 to 2^63), then the header value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long file_size = 0, start = 0, len = 0;
	char *value;
	int r;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		file_size = file_size << 8 | data[i];
	file_size >>= 1;
	value = malloc(size - 8 + 1);
	if (value == NULL)
		return 0;
	memcpy(value, data + 8, size - 8);
	value[size - 8] = '\0';
	r = images_parse_range(value, file_size, &start, &len);
	if (r != 0 && r != 1 && r != -1)
		abort();
	/* what is served is inside the file and not empty */
	if (r == 0 && (len == 0 || start >= file_size || len > file_size - start))
		abort();
	free(value);
	return 0;
}
