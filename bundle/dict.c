/* dict.c - the built-in zstd dictionary (bundle/dict/ssb-v1.zdict, trained
 * by bundle/dict/train.c).  The build turns the file into the array
 * tide_dict_data[] (bundle/CMakeLists.txt); a build without the file has
 * no dictionary and writes dictionary id 0. */
#include "tide/bundle.h"

#include <zstd.h>

#include "tide_dict_data.h"

const uint8_t *tide_bundle_dict(size_t *len, uint32_t *id)
{
  if (sizeof tide_dict_data <= 1) {
    *len = 0;
    *id = 0;
    return NULL;
  }
  *len = sizeof tide_dict_data;
  *id = ZSTD_getDictID_fromDict(tide_dict_data, sizeof tide_dict_data);
  return tide_dict_data;
}
