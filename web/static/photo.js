// The page's "Photo" button: a picture from the camera or the files, read with the same recipe as a
// drawing (preprocess.js), offline like the rest of the page.
//
// The picture is decoded by the browser (createImageBitmap turns a phone photo upright from its EXIF
// orientation) and drawn at most PHOTO_SIDE pixels a side, as pipeline/preprocess.py's read_image
// decodes a large JPEG at a reduced scale: a 48-megapixel photo costs what a 3-megapixel one does.
// readPicture is the picture button's reader for a model of one's own (resize.js): pixels as decoded.

export const PHOTO_SIDE = 2000;   // JPEG_DECODE_SIDE in pipeline/preprocess.py

// File -> ImageData-like {width, height, data}, at most PHOTO_SIDE pixels a side; throws an Error with
// one sentence if it is not an image. `options`: createImageBitmap's; `smooth`: the canvas's smoothing
// when drawing at the picture's own size (a reduction always averages).
async function decodePicture(file, options, smooth) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', ...options });
  } catch {
    throw new Error(`${file.name || 'The picture'} is not an image this browser can read; use a PNG or JPEG.`);
  }
  try {
    const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    context.imageSmoothingEnabled = smooth || scale < 1;
    context.drawImage(bitmap, 0, 0, width, height);
    return context.getImageData(0, 0, width, height);
  } finally {
    bitmap.close();
  }
}

// A photo of a digit for preprocess.js: decoded as the browser shows it.
export function readPhoto(file) {
  return decodePicture(file, {}, true);
}

// A model of one's own (resize.js): the picture's pixels as decoded, at its natural size (drawn 1:1,
// no smoothing) and without colour management, as Pillow decodes it for pipeline/image_input.py, so the
// page resizes exactly what Python resizes. Only a picture over PHOTO_SIDE pixels a side is reduced
// first, as read_image reduces a large JPEG (there the values are close to Python's, not equal).
export function readPicture(file) {
  return decodePicture(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }, false);
}

// Show imageData scaled into `canvas` (at most `side` pixels a side), so the user sees what was read.
export function showPhoto(canvas, imageData, side = 160) {
  const scale = Math.min(1, side / Math.max(imageData.width, imageData.height));
  canvas.width = Math.max(1, Math.round(imageData.width * scale));
  canvas.height = Math.max(1, Math.round(imageData.height * scale));
  const full = new OffscreenCanvas(imageData.width, imageData.height);
  full.getContext('2d').putImageData(imageData, 0, 0);
  canvas.getContext('2d').drawImage(full, 0, 0, canvas.width, canvas.height);
  canvas.hidden = false;
}

// Wire the button (an <input type="file" accept="image/*" capture="environment">) to onPhoto(imageData,
// name) and onError(message). The input is emptied after each pick, so the same file can be read again.
// `read`: readPhoto (a digit, the Photo button) or readPicture (a model of one's own).
export function attachPhotoInput(input, onPhoto, onError, read = readPhoto) {
  input.addEventListener('change', async () => {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    try {
      onPhoto(await read(file), file.name);
    } catch (error) {
      onError(error.message);
    }
  });
}
